%% The driver of moat's distribution benchmark (bench/dist.sh): the same measurements against
%% every target node (an Erlang node running dist_peer.erl, a moat node running
%% bench/dist_peer.cpp), from an Erlang node over inet_tls_dist. bench/dist_driver.cpp does
%% the same from a moat node.
%%
%%   erl -sname driver@localhost ... -run dist_driver main target=peer@localhost \
%%       peer_os_pid=1234 [seconds=3] [rtt_seconds=2] [rtt_iterations=20000] [warmup=2000] \
%%       [window=256] [small_size=64] [bulk_size=65536] [bulk_window=16] [bulk_ack=4] \
%%       [setup_samples=6] [clk_tck=100]
%%
%% Phases, in this order:
%%   setup       net_kernel:connect_node/1 to the target, timed, then erlang:disconnect_node/1
%%               and a pause for the target to see it go: `setup_samples` times (each a
%%               new connection: EPMD, TCP, TLS, the distribution handshake) -> the first
%%               (this VM's first connection), and the p50, min and max of the others.
%%   rtt         {echo, Target} ! {self(), Small}, wait for Small: `warmup` round trips, then
%%               up to `rtt_iterations` timed ones (at most `rtt_seconds`) -> p50, p99.
%%   throughput  `window` messages in flight to echo: every reply sends the next one, for
%%               `seconds` -> replies per second, and the CPU time (utime + stime from
%%               /proc/PID/stat) of this VM and of the target's OS process over the window,
%%               per message (one message = one request and its reply).
%%   bulk        binaries of `bulk_size` bytes to {sink, Target}, `bulk_window` in flight; the
%%               sink acknowledges every `bulk_ack` -> MB/s (1 MB = 10^6 bytes) acknowledged,
%%               and CPU per MB on both sides.
%% Prints one key=value line per figure, then halts (status 0; 1 with error=... on failure).
-module(dist_driver).
-export([main/1]).

-define(TIMEOUT, 10000).

main(Args) ->
    Opts = maps:from_list([parse_arg(A) || A <- Args]),
    try
        run(Opts),
        halt(0)
    catch
        throw:{failed, Why} ->
            out(error, Why),
            halt(1);
        Class:Reason:Stack ->
            out(error, io_lib:format("~w:~w ~w", [Class, Reason, Stack])),
            halt(1)
    end.

parse_arg(A) ->
    [K, V] = string:split(A, "="),
    {list_to_atom(K), V}.

opt(Opts, Key, Default) ->
    case maps:find(Key, Opts) of
        {ok, V} when is_integer(Default) -> list_to_integer(V);
        {ok, V} -> V;
        error -> Default
    end.

out(Key, Value) when is_float(Value) -> io:format("~s=~.3f~n", [Key, Value]);
out(Key, Value) when is_integer(Value) -> io:format("~s=~b~n", [Key, Value]);
out(Key, Value) -> io:format("~s=~s~n", [Key, lists:flatten(io_lib:format("~s", [Value]))]).

run(Opts) ->
    Target = list_to_atom(opt(Opts, target, "")),
    PeerPid = opt(Opts, peer_os_pid, ""),
    Tck = opt(Opts, clk_tck, 100),
    Seconds = opt(Opts, seconds, 3),
    out(driver, "erlang"),
    out(driver_os_pid, os:getpid()),

    setup(Target, opt(Opts, setup_samples, 6)),
    case net_kernel:connect_node(Target) of
        true -> ok;
        _ -> throw({failed, "cannot connect to " ++ atom_to_list(Target)})
    end,
    Small = binary:copy(<<"x">>, opt(Opts, small_size, 64)),
    Echo = {echo, Target},
    rtt(Echo, Small, opt(Opts, warmup, 2000), opt(Opts, rtt_iterations, 20000),
        opt(Opts, rtt_seconds, 2)),
    throughput(Echo, Small, opt(Opts, window, 256), Seconds, PeerPid, Tck),
    bulk({sink, Target}, binary:copy(<<"b">>, opt(Opts, bulk_size, 65536)),
         opt(Opts, bulk_window, 16), opt(Opts, bulk_ack, 4), Seconds, PeerPid, Tck).

now_ns() -> erlang:monotonic_time(nanosecond).

%% ---- setup ----------------------------------------------------------------------------------

setup(Target, N) ->
    Samples = [setup_one(Target) || _ <- lists:seq(1, N)],
    Ok = [Ms || {ok, Ms} <- Samples],
    out(setup_samples, length(Ok)),
    out(setup_failures, N - length(Ok)),
    setup_report(Ok).

%% The first connection of this VM (which also loads ssl's code), then the others.
setup_report([]) -> ok;
setup_report([First | Rest]) ->
    out(setup_ms_first, First),
    Later = lists:sort(case Rest of [] -> [First]; _ -> Rest end),
    out(setup_ms_p50, percentile(Later, 0.5)),
    out(setup_ms_min, hd(Later)),
    out(setup_ms_max, lists:last(Later)).

setup_one(Target) ->
    T0 = now_ns(),
    R = net_kernel:connect_node(Target),
    T1 = now_ns(),
    erlang:disconnect_node(Target),
    wait_gone(Target, 100),
    %% The target sees the connection close a moment later.
    timer:sleep(150),
    case R of
        true -> {ok, (T1 - T0) / 1.0e6};
        _ -> failed
    end.

wait_gone(_, 0) -> ok;
wait_gone(Target, N) ->
    case lists:member(Target, nodes([visible, hidden])) of
        true -> timer:sleep(10), wait_gone(Target, N - 1);
        false -> ok
    end.

%% ---- round trip -----------------------------------------------------------------------------

rtt(Echo, Small, Warmup, Iterations, Seconds) ->
    Msg = {self(), Small},
    _ = [round_trip(Echo, Msg) || _ <- lists:seq(1, Warmup)],
    Deadline = now_ns() + Seconds * 1000000000,
    Us = lists:sort(rtt_loop(Echo, Msg, Iterations, Deadline, [])),
    out(rtt_samples, length(Us)),
    out(rtt_p50_us, percentile(Us, 0.5)),
    out(rtt_p99_us, percentile(Us, 0.99)).

rtt_loop(_, _, 0, _, Acc) -> Acc;
rtt_loop(Echo, Msg, N, Deadline, Acc) ->
    T0 = now_ns(),
    round_trip(Echo, Msg),
    T1 = now_ns(),
    case T1 >= Deadline of
        true -> [(T1 - T0) / 1000.0 | Acc];
        false -> rtt_loop(Echo, Msg, N - 1, Deadline, [(T1 - T0) / 1000.0 | Acc])
    end.

round_trip(Echo, Msg) ->
    Echo ! Msg,
    receive
        B when is_binary(B) -> ok
    after ?TIMEOUT -> throw({failed, "no echo within 10 s (round trip)"})
    end.

percentile(Sorted, P) ->
    N = length(Sorted),
    lists:nth(max(1, min(N, round(P * N))), Sorted).

%% ---- throughput -----------------------------------------------------------------------------

throughput(Echo, Small, Window, Seconds, PeerPid, Tck) ->
    Msg = {self(), Small},
    _ = [Echo ! Msg || _ <- lists:seq(1, Window)],
    %% Let the window go round once before measuring.
    _ = tp_loop(Echo, Msg, now_ns() + 200000000, 0),
    C0 = cpu(os:getpid()),
    P0 = cpu(PeerPid),
    T0 = now_ns(),
    N = tp_loop(Echo, Msg, T0 + Seconds * 1000000000, 0),
    T1 = now_ns(),
    C1 = cpu(os:getpid()),
    P1 = cpu(PeerPid),
    drain(Window),
    Secs = (T1 - T0) / 1.0e9,
    out(tp_window, Window),
    out(tp_msgs, N),
    out(tp_seconds, Secs),
    out(tp_msgs_per_s, N / Secs),
    out(tp_driver_cpu_us_per_msg, (C1 - C0) * 1.0e6 / Tck / max(N, 1)),
    out(tp_peer_cpu_us_per_msg, (P1 - P0) * 1.0e6 / Tck / max(N, 1)),
    out(tp_driver_util, (C1 - C0) / Tck / Secs),
    out(tp_peer_util, (P1 - P0) / Tck / Secs).

%% Every reply sends the next request; the clock is read every 64 replies.
tp_loop(Echo, Msg, Deadline, N) ->
    receive
        B when is_binary(B) -> Echo ! Msg
    after ?TIMEOUT -> throw({failed, "no echo within 10 s (throughput)"})
    end,
    case (N band 63) =:= 63 andalso now_ns() >= Deadline of
        true -> N + 1;
        false -> tp_loop(Echo, Msg, Deadline, N + 1)
    end.

drain(0) -> ok;
drain(N) ->
    receive
        B when is_binary(B) -> drain(N - 1)
    after ?TIMEOUT -> throw({failed, "echo replies missing after the throughput window"})
    end.

%% ---- bulk -----------------------------------------------------------------------------------

bulk(Sink, Bin, Window, Ack, Seconds, PeerPid, Tck) ->
    Sink ! {self(), reset, Ack},
    receive {sink, 0, 0} -> ok after ?TIMEOUT -> throw({failed, "no answer from sink"}) end,
    Msg = {self(), Bin},
    C0 = cpu(os:getpid()),
    P0 = cpu(PeerPid),
    T0 = now_ns(),
    {Sent, Acked} = bulk_loop(Sink, Msg, Window, T0 + Seconds * 1000000000, 0, 0),
    T1 = now_ns(),
    C1 = cpu(os:getpid()),
    P1 = cpu(PeerPid),
    Sink ! {self(), count},
    receive
        {sink_count, Sent, _} -> ok;
        {sink_count, Other, _} ->
            throw({failed, io_lib:format("sink counted ~b of ~b", [Other, Sent])})
    after ?TIMEOUT -> throw({failed, "no count from sink"})
    end,
    flush_acks(),
    Secs = (T1 - T0) / 1.0e9,
    MB = Acked * byte_size(Bin) / 1.0e6,
    out(bulk_msgs, Acked),
    out(bulk_seconds, Secs),
    out(bulk_mb_per_s, MB / Secs),
    out(bulk_driver_cpu_us_per_mb, (C1 - C0) * 1.0e6 / Tck / max(MB, 1.0e-9)),
    out(bulk_peer_cpu_us_per_mb, (P1 - P0) * 1.0e6 / Tck / max(MB, 1.0e-9)).

bulk_loop(Sink, Msg, Window, Deadline, Sent, Acked) when Sent - Acked < Window ->
    Sink ! Msg,
    case now_ns() >= Deadline of
        true -> {Sent + 1, Acked};
        false -> bulk_loop(Sink, Msg, Window, Deadline, Sent + 1, Acked)
    end;
bulk_loop(Sink, Msg, Window, Deadline, Sent, _) ->
    receive
        {sink, N, _} ->
            case now_ns() >= Deadline of
                true -> {Sent, N};
                false -> bulk_loop(Sink, Msg, Window, Deadline, Sent, N)
            end
    after ?TIMEOUT -> throw({failed, "no ack from sink within 10 s"})
    end.

flush_acks() ->
    receive {sink, _, _} -> flush_acks() after 0 -> ok end.

%% ---- CPU time -------------------------------------------------------------------------------

%% utime + stime of an OS process in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu("") -> 0;
cpu(Pid) ->
    {ok, B} = file:read_file("/proc/" ++ Pid ++ "/stat"),
    [_, After] = string:split(B, ")", trailing),
    F = string:lexemes(After, " "),
    binary_to_integer(lists:nth(12, F)) + binary_to_integer(lists:nth(13, F)).
