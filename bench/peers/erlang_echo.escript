#!/usr/bin/env escript
%% -*- erlang -*-
%%! +S 1:1 -noshell
%%
%% The Erlang peer of moat's benchmark (bench/run.sh): the recipe's server (seeds/1) with OTP's
%% `ssl` and nothing else. ssl:listen with {packet, 4}; an acceptor process waits in
%% transport_accept, starts the next acceptor as soon as it has a connection, completes the
%% handshake and then *is* that connection's handler: one process per connection, echoing every
%% message back in {active, once} mode. One scheduler (+S 1:1), as the benchmark pins the
%% server to one core.
%%
%%   escript erlang_echo.escript Port CertFile KeyFile
%%
%% TLS 1.3 and 1.2; stateless TLS 1.3 session tickets (OTP's server default is none) so that
%% the resumed-handshake scenario can resume. Prints "listening <port>" once ready.

main([PortS, CertFile, KeyFile]) ->
    {ok, _} = application:ensure_all_started(ssl),
    Port = list_to_integer(PortS),
    {ok, L} = ssl:listen(Port, [binary, {packet, 4}, {active, false}, {reuseaddr, true},
                                {ip, {127, 0, 0, 1}}, {backlog, 1024},
                                {certfile, CertFile}, {keyfile, KeyFile},
                                {versions, ['tlsv1.3', 'tlsv1.2']},
                                {session_tickets, stateless}]),
    spawn(fun() -> acceptor(L) end),
    io:format("listening ~b~n", [Port]),
    receive stop -> ok end;
main(_) ->
    io:format(standard_error, "usage: erlang_echo.escript Port CertFile KeyFile~n", []),
    halt(64).

acceptor(L) ->
    case ssl:transport_accept(L) of
        {ok, T} ->
            spawn(fun() -> acceptor(L) end),
            case ssl:handshake(T, 5000) of
                {ok, S} ->
                    ok = ssl:setopts(S, [{active, once}]),
                    loop(S);
                {error, _} ->
                    ok
            end;
        {error, _} ->
            %% e.g. emfile: back off instead of spinning.
            timer:sleep(100),
            acceptor(L)
    end.

loop(S) ->
    receive
        {ssl, S, Data} ->
            ok = ssl:send(S, Data),
            ok = ssl:setopts(S, [{active, once}]),
            loop(S);
        {ssl_closed, S} ->
            ok;
        {ssl_error, S, _Reason} ->
            ssl:close(S)
    end.
