%% The control loop of a test node (tests/support/erlang_node.hpp). Reads lines "Id Expr" on
%% standard input, evaluates each Expr (Erlang expressions separated by commas) in a process
%% of its own, and prints "<<moat-result Id Hex>>" on a line of its own, Hex being the hex of
%% the UTF-8 of the result printed like ~p on one line ({error, {Class, Reason}} if the
%% evaluation raised). End of input stops the node (init:stop/0).
-module(moat_test_ctl).
-export([start/0, eval/1]).

start() ->
    {ok, _} = erl_echo:start(),
    {ok, _} = test_inbox:start(),
    io:format("~n<<moat-ready ~s>>~n", [node()]),
    loop().

loop() ->
    case io:get_line('') of
        eof ->
            init:stop();
        {error, _} ->
            init:stop();
        Line ->
            %% A list in erl, a binary in elixir (which puts standard_io in binary mode).
            case string:split(string:trim(unicode:characters_to_list(Line)), " ") of
                [Id, Expr] -> spawn(fun() -> reply(Id, eval(Expr)) end);
                _ -> ok
            end,
            loop()
    end.

reply(Id, Text) ->
    Hex = binary:encode_hex(unicode:characters_to_binary(Text)),
    io:format("~n<<moat-result ~s ~s>>~n", [Id, Hex]).

%% The printed result of evaluating Text.
eval(Text) ->
    Result =
        try
            {ok, Tokens, _} = erl_scan:string(string:trim(Text, trailing, ". ") ++ "."),
            {ok, Exprs} = erl_parse:parse_exprs(Tokens),
            {value, Value, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
            Value
        catch
            Class:Reason -> {error, {Class, Reason}}
        end,
    lists:flatten(io_lib:print(Result, 1, 1 bsl 24, -1)).
