%% The Erlang target of moat's distribution benchmark (bench/dist.sh): a node over
%% inet_tls_dist with two registered processes, the same two that bench/dist_peer.cpp
%% runs on a moat node.
%%
%%   echo  {From, Term}          -> From ! Term
%%   sink  {From, Binary}        -> counts it; every K-th: From ! {sink, Count, Bytes}
%%         {From, count}         -> From ! {sink_count, Count, Bytes}
%%         {From, reset, K}      -> Count = Bytes = 0, acks every K; From ! {sink, 0, 0}
%%
%% Started by bench/dist.sh as `erl -sname ... -run dist_peer start`; prints
%% "ready <node> <os pid>" once both names are registered, then runs until the VM stops.
-module(dist_peer).
-export([start/0, echo/0, sink/3]).

start() ->
    register(echo, spawn(?MODULE, echo, [])),
    register(sink, spawn(?MODULE, sink, [1, 0, 0])),
    io:format("ready ~s ~s~n", [node(), os:getpid()]).

echo() ->
    receive
        {From, Term} when is_pid(From) -> From ! Term;
        _ -> ok
    end,
    echo().

sink(K, Count, Bytes) ->
    receive
        {From, Bin} when is_binary(Bin) ->
            C = Count + 1,
            B = Bytes + byte_size(Bin),
            case C rem K of
                0 -> From ! {sink, C, B};
                _ -> ok
            end,
            sink(K, C, B);
        {From, count} ->
            From ! {sink_count, Count, Bytes},
            sink(K, Count, Bytes);
        {From, reset, NewK} when is_integer(NewK), NewK > 0 ->
            From ! {sink, 0, 0},
            sink(NewK, 0, 0);
        _ ->
            sink(K, Count, Bytes)
    end.
