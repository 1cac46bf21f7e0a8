// go_echo: the Go peer of moat's benchmark (bench/run.sh): a crypto/tls {packet,4} echo
// server, one goroutine per connection, standard library only.
//
//	go_echo -listen 127.0.0.1:7001 -cert cert.pem -key key.pem
//	go_echo -listen 127.0.0.1:7001 -plain
//
// TLS 1.2 and 1.3 with Go's defaults (X25519 first, AES-GCM first with AES-NI, session
// tickets on). With -plain it echoes over plain TCP instead: the benchmark's measure of what
// the kernel alone costs for the same traffic. Prints "listening ADDR" once ready.
package main

import (
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7001", "address to listen on")
	certFile := flag.String("cert", "", "certificate chain (PEM)")
	keyFile := flag.String("key", "", "private key (PEM)")
	plain := flag.Bool("plain", false, "plain TCP, no TLS")
	flag.Parse()

	var ln net.Listener
	var err error
	if *plain {
		ln, err = net.Listen("tcp", *listen)
	} else {
		var cert tls.Certificate
		cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("go_echo: %v", err)
		}
		cfg := &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}
		ln, err = tls.Listen("tcp", *listen, cfg)
	}
	if err != nil {
		log.Fatalf("go_echo: %v", err)
	}
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("go_echo: accept: %v", err)
			continue
		}
		go serve(c)
	}
}

// serve echoes {packet,4} messages until the peer closes. The buffer is reused and grows to
// the largest message seen.
func serve(c net.Conn) {
	defer c.Close()
	var header [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(c, header[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(header[:]))
		if cap(buf) < 4+n {
			buf = make([]byte, 4+n)
		}
		buf = buf[:4+n]
		copy(buf, header[:])
		if _, err := io.ReadFull(c, buf[4:]); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}
