#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% An Erlang gen_tcp client with {packet, 4} for moat's plain-TCP framed socket
%% (tests/tls/plain_socket_test.cpp).
%%
%%   escript erlang_tcp_client.escript Port Msg...
%%
%% Sends every Msg in one burst, then reads as many replies. Output, one line per event:
%%   reply <i> <reply>
%%   recv_error <i> <reason>
%%   closed

main([PortS | Msgs]) ->
    {ok, S} = gen_tcp:connect("127.0.0.1", list_to_integer(PortS),
                              [binary, {packet, 4}, {active, false}], 10000),
    [ok = gen_tcp:send(S, M) || M <- Msgs],
    recv(S, 1, length(Msgs)),
    ok = gen_tcp:close(S),
    io:format("closed~n"),
    halt(0).

recv(_S, I, N) when I > N -> ok;
recv(S, I, N) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, R} -> io:format("reply ~b ~s~n", [I, R]), recv(S, I + 1, N);
        {error, Reason} -> io:format("recv_error ~b ~p~n", [I, Reason])
    end.
