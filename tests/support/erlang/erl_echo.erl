%% A gen_server registered as erl_echo that test peers call and cast to
%% (tests/support/erlang_node.hpp): a call replies with its request, except
%%   get_last_cast            -> the last cast received, or undefined
%%   get_casts                -> every cast received, oldest first
%%   {sleep, Ms, Reply}       -> Reply, after Ms milliseconds (for call timeouts)
%% A cast is stored; any other message is stored as an info (get_infos).
-module(erl_echo).
-behaviour(gen_server).
-export([start/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start() ->
    gen_server:start({local, erl_echo}, ?MODULE, [], []).

init([]) ->
    {ok, #{casts => [], infos => []}}.

handle_call(get_last_cast, _From, #{casts := []} = S) ->
    {reply, undefined, S};
handle_call(get_last_cast, _From, #{casts := [Last | _]} = S) ->
    {reply, Last, S};
handle_call(get_casts, _From, #{casts := Casts} = S) ->
    {reply, lists:reverse(Casts), S};
handle_call(get_infos, _From, #{infos := Infos} = S) ->
    {reply, lists:reverse(Infos), S};
handle_call({sleep, Ms, Reply}, From, S) ->
    erlang:send_after(Ms, self(), {'$erl_echo_reply', From, Reply}),
    {noreply, S};
handle_call(Request, _From, S) ->
    {reply, Request, S}.

handle_cast(Msg, #{casts := Casts} = S) ->
    {noreply, S#{casts := [Msg | Casts]}}.

handle_info({'$erl_echo_reply', From, Reply}, S) ->
    gen_server:reply(From, Reply),
    {noreply, S};
handle_info(Msg, #{infos := Infos} = S) ->
    {noreply, S#{infos := [Msg | Infos]}}.
