#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% An Erlang `ssl` echo server for moat's interop tests (tests/tls/erlang_test.cpp), shaped like
%% the recipe in seeds/1: ssl:listen with {packet, 4}, an acceptor that spawns the next
%% acceptor as soon as it has a connection, one process per connection echoing in active mode.
%%
%%   escript erlang_ssl_server.escript Port CertFile KeyFile CaCertFile Verify
%%
%% Verify: "verify_none", or "verify_peer" (with fail_if_no_peer_cert). Listens on 127.0.0.1
%% until its stdin closes. Output, one line per event, for the test to assert:
%%   listening <port>
%%   handshake ok protocol=<p> cipher=<IANA name> peer=<CN or none>
%%   handshake error <reason>
%%   echo <size> <data, if short and printable>
%%   closed | ssl_error <reason>

main([PortS, CertFile, KeyFile, CaFile, Verify]) ->
    {ok, _} = application:ensure_all_started(ssl),
    Port = list_to_integer(PortS),
    VerifyOpts = case Verify of
                     "verify_peer" -> [{verify, verify_peer}, {fail_if_no_peer_cert, true}];
                     _ -> [{verify, verify_none}]
                 end,
    {ok, L} = ssl:listen(Port, [binary, {packet, 4}, {active, true}, {reuseaddr, true},
                                {ip, {127, 0, 0, 1}},
                                {certfile, CertFile}, {keyfile, KeyFile},
                                {cacertfile, CaFile},
                                {versions, ['tlsv1.3', 'tlsv1.2']} | VerifyOpts]),
    spawn(fun() -> acceptor(L) end),
    out("listening ~b", [Port]),
    wait_for_eof();
main(_) ->
    io:format(standard_error, "usage: Port CertFile KeyFile CaCertFile Verify~n", []),
    halt(64).

wait_for_eof() ->
    case io:get_line("") of
        eof -> halt(0);
        {error, _} -> halt(0);
        _ -> wait_for_eof()
    end.

acceptor(L) ->
    {ok, T} = ssl:transport_accept(L),
    spawn(fun() -> acceptor(L) end),
    case ssl:handshake(T, 5000) of
        {ok, S} ->
            {ok, Info} = ssl:connection_information(S, [protocol, selected_cipher_suite]),
            Suite = proplists:get_value(selected_cipher_suite, Info),
            out("handshake ok protocol=~s cipher=~s peer=~s",
                [proplists:get_value(protocol, Info), ssl:suite_to_str(Suite), peer_cn(S)]),
            loop(S);
        {error, Reason} ->
            out("handshake error ~0p", [Reason])
    end.

loop(S) ->
    receive
        {ssl, S, Data} ->
            Shown = case byte_size(Data) =< 64 of true -> Data; false -> <<>> end,
            out("echo ~b ~s", [byte_size(Data), Shown]),
            ok = ssl:send(S, Data),
            loop(S);
        {ssl_closed, S} ->
            out("closed", []);
        {ssl_error, S, Reason} ->
            out("ssl_error ~0p", [Reason])
    end.

peer_cn(S) ->
    case ssl:peercert(S) of
        {ok, Der} ->
            %% (Records by position: Debian's erlang-nox has no public_key.hrl.)
            {'OTPCertificate', Tbs, _, _} = public_key:pkix_decode_cert(Der, otp),
            {rdnSequence, Rdns} = element(7, Tbs),  % #'OTPTBSCertificate'.subject
            case [V || Rdn <- Rdns, {'AttributeTypeAndValue', {2, 5, 4, 3}, V} <- Rdn] of
                [{_, Cn} | _] -> Cn;
                [Cn | _] -> Cn;
                [] -> "no-cn"
            end;
        {error, _} ->
            "none"
    end.

out(Fmt, Args) ->
    io:format(Fmt ++ "~n", Args).
