%% A registered process (default name test_inbox) that records every message it receives,
%% for tests to wait on (tests/support/erlang_node.hpp):
%%   take(Timeout)               -> {ok, Msg} (the oldest message not yet taken) | timeout
%%   take_matching(Fun, Timeout) -> {ok, Msg} for the oldest Msg with Fun(Msg) =:= true | timeout
%%   all()                       -> every message received so far, oldest first (taken or not)
%%   count()                     -> how many messages it received
%% The inbox keeps the time itself, so a message that arrives as a take times out is not lost.
-module(test_inbox).
-export([start/0, start/1, take/1, take/2, take_matching/2, take_matching/3, all/0, all/1,
         count/0, count/1]).

start() -> start(test_inbox).

start(Name) ->
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn(fun() ->
                        true = register(Name, self()),
                        Parent ! {Ref, started},
                        loop([], [], [])
                end),
    receive {Ref, started} -> {ok, Pid} after 5000 -> {error, timeout} end.

take(Timeout) -> take(test_inbox, Timeout).
take(Name, Timeout) -> take_matching(Name, fun(_) -> true end, Timeout).
take_matching(Fun, Timeout) -> take_matching(test_inbox, Fun, Timeout).
take_matching(Name, Fun, Timeout) -> request(Name, {take, Fun, Timeout}).
all() -> all(test_inbox).
all(Name) -> request(Name, all).
count() -> count(test_inbox).
count(Name) -> request(Name, count).

request(Name, Request) ->
    Ref = make_ref(),
    Name ! {'$test_inbox', self(), Ref, Request},
    receive {Ref, Reply} -> Reply end.

%% Queue: messages not yet taken, oldest first. History: every message, newest first.
%% Waiters: {From, Ref, Fun, TimerRef}, oldest first.
loop(Queue, History, Waiters) ->
    receive
        {'$test_inbox', From, Ref, {take, Fun, Timeout}} ->
            case first_match(Fun, Queue) of
                {ok, Msg, Rest} ->
                    From ! {Ref, {ok, Msg}},
                    loop(Rest, History, Waiters);
                none ->
                    T = erlang:send_after(Timeout, self(), {'$test_inbox_timeout', Ref}),
                    loop(Queue, History, Waiters ++ [{From, Ref, Fun, T}])
            end;
        {'$test_inbox', From, Ref, all} ->
            From ! {Ref, lists:reverse(History)},
            loop(Queue, History, Waiters);
        {'$test_inbox', From, Ref, count} ->
            From ! {Ref, length(History)},
            loop(Queue, History, Waiters);
        {'$test_inbox_timeout', Ref} ->
            case lists:keytake(Ref, 2, Waiters) of
                {value, {From, Ref, _, _}, Rest} ->
                    From ! {Ref, timeout},
                    loop(Queue, History, Rest);
                false ->
                    loop(Queue, History, Waiters)
            end;
        Msg ->
            case give(Msg, Waiters, []) of
                {given, Rest} -> loop(Queue, [Msg | History], Rest);
                kept -> loop(Queue ++ [Msg], [Msg | History], Waiters)
            end
    end.

first_match(Fun, Queue) -> first_match(Fun, Queue, []).
first_match(_Fun, [], _Skipped) -> none;
first_match(Fun, [Msg | Rest], Skipped) ->
    case catch Fun(Msg) of
        true -> {ok, Msg, lists:reverse(Skipped, Rest)};
        _ -> first_match(Fun, Rest, [Msg | Skipped])
    end.

give(_Msg, [], _Skipped) -> kept;
give(Msg, [{From, Ref, Fun, T} = W | Rest], Skipped) ->
    case catch Fun(Msg) of
        true ->
            _ = erlang:cancel_timer(T),
            From ! {Ref, {ok, Msg}},
            {given, lists:reverse(Skipped, Rest)};
        _ ->
            give(Msg, Rest, [W | Skipped])
    end.
