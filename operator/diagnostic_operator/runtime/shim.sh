#!/bin/sh
# shellcheck disable=SC2317  # functions run from traps look unreachable to shellcheck
# diagnostic-operator runner shim: run one diagnostic command, tee its log, enforce a deadline,
# keep a heartbeat, and write the exit record (schema diagnostic-operator.io/exit-record/v1).
#
#   shim.sh [--deadline SECONDS] [--grace SECONDS] [--heartbeat SECONDS] [--] COMMAND [ARGS...]
#
# Environment: DIAGNOSTIC_OUTPUT_DIR (required; created; the command's cwd, exported to it),
# DIAGNOSTIC_DEADLINE_SECONDS, DIAGNOSTIC_GRACE_SECONDS (default 10),
# DIAGNOSTIC_HEARTBEAT_SECONDS (default 5). Flags win over the environment; 0 disables deadline/heartbeat.
#
# Portable POSIX sh (dash, busybox ash, bash). It needs only the shell; it uses mkdir, rm, mv,
# mkfifo, tee, sleep, setsid, date and wc when present and degrades without them.
# Exit status: the command's (126/127 if it cannot be run); 125 for a usage error of the shim itself.
# Full contract: docs/exit-record.md. Keep this file free of bashisms (shellcheck -s sh).

SHIM_VERSION="1.1.0"
SCHEMA="diagnostic-operator.io/exit-record/v1"
PFX="[diagnostic-operator shim]"

# ---------------------------------------------------------------------------------------------- helpers
# Helpers return their result in R (a command substitution would cost a fork each time).
have() { command -v "$1" >/dev/null 2>&1; }

# say MESSAGE: to stderr and, once the log exists, appended to out.log
say() {
    printf '%s %s\n' "$PFX" "$*" >&2
    if [ -n "${log_ready:-}" ]; then printf '%s %s\n' "$PFX" "$*" >>"$log_file" 2>/dev/null; fi
    return 0
}

die_usage() {
    printf '%s %s\n' "$PFX" "$*" >&2
    printf '%s usage: shim.sh [--deadline S] [--grace S] [--heartbeat S] -- COMMAND [ARGS...]\n' "$PFX" >&2
    exit 125
}

is_uint() {
    case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

# dec N: N without leading zeros (so that $(( )) never reads it as octal)
dec() {
    R=$1
    while :; do
        case $R in 0?*) R=${R#0} ;; *) break ;; esac
    done
    R=${R:-0}
}

# uptime_cs: /proc/uptime in centiseconds
uptime_cs() {
    R=
    _u=
    [ -r /proc/uptime ] || return 1
    read -r _u _rest 2>/dev/null </proc/uptime || [ -n "$_u" ] || return 1
    case $_u in
        *.??) _i=${_u%.*}; _f=${_u#*.}
              if is_uint "$_i" && is_uint "$_f"; then dec "$_i$_f"; return 0; fi ;;
    esac
    R=
    return 1
}

# clock: one `date` call -> R_EPOCH (seconds) and R_ISO (UTC ISO-8601); both empty without date
clock() {
    R_EPOCH=
    R_ISO=
    [ -n "$have_date" ] || return 1
    _t=$(date -u '+%s %Y-%m-%dT%H:%M:%SZ' 2>/dev/null) || return 1
    _e=${_t%% *}
    _t=${_t#* }
    is_uint "$_e" && R_EPOCH=$_e
    case $_t in
        [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) R_ISO=$_t ;;
    esac
    [ -n "$R_EPOCH" ]
}

# jstr VALUE: R = VALUE as a JSON string literal, or null when empty. Escapes \ and ", turns
# tab/newline/CR into \t \n \r and drops every other control character; no external tools.
jstr() {
    if [ -z "$1" ]; then R=null; return 0; fi
    case $1 in
        *[\\\"[:cntrl:]]*) ;;
        *) R="\"$1\""; return 0 ;;
    esac
    _s=$1
    _o=
    _tab=$(printf '\t')
    _cr=$(printf '\r')
    _nl='
'
    while [ -n "$_s" ]; do
        _rest=${_s#?}
        _c=${_s%"$_rest"}
        _s=$_rest
        case $_c in
            \\) _o="$_o\\\\" ;;
            \") _o="$_o\\\"" ;;
            "$_tab") _o="$_o\\t" ;;
            "$_nl") _o="$_o\\n" ;;
            "$_cr") _o="$_o\\r" ;;
            [[:cntrl:]]) ;;
            *) _o="$_o$_c" ;;
        esac
    done
    R="\"$_o\""
}

# jnum VALUE: R = VALUE, or null when empty
jnum() {
    R=${1:-null}
}

# read_key FILE KEY: R = the unsigned value of the "KEY VALUE" line of FILE
# (memory.events, memory.oom_control, memory.stat)
read_key() {
    R=
    [ -r "$1" ] || return 1
    while read -r _k _v; do
        if [ "$_k" = "$2" ]; then
            is_uint "$_v" || return 1
            R=$_v
            return 0
        fi
    done 2>/dev/null <"$1"
    return 1
}

# read_uint FILE: R = the first word of FILE when it is an unsigned integer
read_uint() {
    R=
    [ -r "$1" ] || return 1
    _v=
    read -r _v _rest 2>/dev/null <"$1" || [ -n "$_v" ] || return 1
    is_uint "$_v" || return 1
    R=$_v
}

# v1 "unlimited" is PAGE_COUNTER_MAX*PAGE_SIZE (~2^63); treat anything >= 2^62 as no limit
v1_limited() {
    if [ ${#1} -gt 19 ]; then return 1; fi
    if [ ${#1} -lt 19 ]; then return 0; fi
    [ "$1" -lt 4611686018427387904 ] 2>/dev/null
}

# find_cgroup: sets cg_kind (cgroup-v2 | cgroup-v1 | empty) and cg_dir from /proc/self/cgroup;
# falls back to the mount root (inside a container's cgroup namespace the root is the container).
find_cgroup() {
    cg_kind=
    cg_dir=
    _root=${DIAGNOSTIC_CGROUP_ROOT:-/sys/fs/cgroup}
    _v1path=
    _v2path=
    if [ -r /proc/self/cgroup ]; then
        while IFS= read -r _line; do
            _hid=${_line%%:*}
            _r=${_line#*:}
            _ctl=${_r%%:*}
            _p=${_r#*:}
            if [ "$_hid" = 0 ] && [ -z "$_ctl" ]; then
                _v2path=$_p
            else
                case ",$_ctl," in *,memory,*) _v1path=$_p ;; esac
            fi
        done 2>/dev/null </proc/self/cgroup
    fi
    # cgroup v2 (unified): memory controller files live directly under the mount
    if [ -e "$_root/cgroup.controllers" ]; then
        for _d in "$_root${_v2path%/}" "$_root"; do
            if [ -r "$_d/memory.max" ] || [ -r "$_d/memory.peak" ] || [ -r "$_d/memory.events" ]; then
                cg_kind=cgroup-v2
                cg_dir=$_d
                return 0
            fi
        done
    fi
    # cgroup v1 memory hierarchy
    for _d in "$_root/memory${_v1path%/}" "$_root/memory"; do
        if [ -r "$_d/memory.max_usage_in_bytes" ] || [ -r "$_d/memory.limit_in_bytes" ]; then
            cg_kind=cgroup-v1
            cg_dir=$_d
            return 0
        fi
    done
    return 1
}

# find_cpu: cpu_kind (v2 | v1 | empty) and cpu_file, the cgroup's CPU time counter: v2 cpu.stat
# (usage_usec, always there next to the memory files), v1 cpuacct.usage (nanoseconds) of the cpuacct
# hierarchy, found like the memory one (/proc/self/cgroup's path, else the mount root)
find_cpu() {
    cpu_kind=
    cpu_file=
    _root=${DIAGNOSTIC_CGROUP_ROOT:-/sys/fs/cgroup}
    if [ "$cg_kind" = cgroup-v2 ]; then
        if [ -r "$cg_dir/cpu.stat" ]; then cpu_kind=v2; cpu_file=$cg_dir/cpu.stat; return 0; fi
        return 1
    fi
    _cpath=
    if [ -r /proc/self/cgroup ]; then
        while IFS= read -r _line; do
            _r=${_line#*:}
            _ctl=${_r%%:*}
            case ",$_ctl," in *,cpuacct,*) _cpath=${_r#*:} ;; esac
        done 2>/dev/null </proc/self/cgroup
    fi
    for _d in "$_root/cpuacct${_cpath%/}" "$_root/cpu,cpuacct${_cpath%/}" "$_root/cpuacct" "$_root/cpu,cpuacct"; do
        if [ -r "$_d/cpuacct.usage" ]; then cpu_kind=v1; cpu_file=$_d/cpuacct.usage; return 0; fi
    done
    return 1
}

# cpu_ms: R = the cgroup's CPU time so far in milliseconds (empty when unknown)
cpu_ms() {
    R=
    case $cpu_kind in
        v2) read_key "$cpu_file" usage_usec || return 1; dec "$R"; R=$((R / 1000)) ;;
        v1) read_uint "$cpu_file" || return 1; dec "$R"; R=$((R / 1000000)) ;;
        *) return 1 ;;
    esac
}

oom_count() {
    R=
    case $cg_kind in
        cgroup-v2) read_key "$cg_dir/memory.events" oom_kill ;;
        cgroup-v1) read_key "$cg_dir/memory.oom_control" oom_kill ;;
        *) return 1 ;;
    esac
}

# signal_group SIG: the command's PID and, when it leads its own group (setsid), the whole group
signal_child() {
    if [ -n "$pgid" ]; then kill "-$1" "-$pgid" 2>/dev/null; fi
    kill "-$1" "$child_pid" 2>/dev/null
    return 0
}

# ignores_int PID: true when PID has SIGINT ignored (SigIgn bit 2 in /proc/PID/status)
ignores_int() {
    [ -r "/proc/$1/status" ] || return 1
    while read -r _k _v; do
        if [ "$_k" = "SigIgn:" ]; then
            case $_v in *[2367abefABEF]) return 0 ;; *) return 1 ;; esac
        fi
    done 2>/dev/null <"/proc/$1/status"
    return 1
}

# group_alive PGID: some process of the group is still running (zombies do not count; without a
# readable /proc, "the group exists" is the best we know)
group_alive() {
    _pg=$1
    kill -0 "-$_pg" 2>/dev/null || return 1
    [ -r /proc/self/stat ] || return 0
    for _st in /proc/[0-9]*/stat; do
        _line=
        read -r _line 2>/dev/null <"$_st" || [ -n "$_line" ] || continue
        _line=${_line##*) }
        # shellcheck disable=SC2086  # split "state ppid pgrp ..."
        set -- $_line
        [ "${3:-}" = "$_pg" ] && [ "$1" != Z ] && [ "$1" != X ] && return 0
    done
    return 1
}

on_signal() {
    forwarded=$1
    caught=$1
    if [ -n "${child_pid:-}" ] && [ -z "${child_done:-}" ]; then
        _sig=$1
        # sh starts background commands with SIGINT ignored (POSIX; dash and busybox cannot undo it),
        # so an INT would be lost: the command gets TERM instead.
        if [ "$_sig" = INT ] && ignores_int "$child_pid"; then _sig=TERM; fi
        say "received SIG$1: sending SIG$_sig to the command (pid $child_pid)"
        signal_child "$_sig"
    fi
}

# ---------------------------------------------------------------------------------------------- options
deadline=${DIAGNOSTIC_DEADLINE_SECONDS:-}
grace=${DIAGNOSTIC_GRACE_SECONDS:-10}
heartbeat=${DIAGNOSTIC_HEARTBEAT_SECONDS:-5}
while [ $# -gt 0 ]; do
    case $1 in
        --deadline | --grace | --heartbeat)
            [ $# -ge 2 ] || die_usage "$1 needs a value"
            _opt=${1#--}
            _val=$2
            shift 2 ;;
        --deadline=* | --grace=* | --heartbeat=*)
            _opt=${1%%=*}
            _opt=${_opt#--}
            _val=${1#*=}
            shift ;;
        --) shift; break ;;
        -*) die_usage "unknown option: $1" ;;
        *) break ;;
    esac
    case $_opt in
        deadline) deadline=$_val ;;
        grace) grace=$_val ;;
        heartbeat) heartbeat=$_val ;;
    esac
done
[ $# -gt 0 ] || die_usage "no command given"
for _pair in "deadline:$deadline" "grace:$grace" "heartbeat:$heartbeat"; do
    _v=${_pair#*:}
    [ -z "$_v" ] || is_uint "$_v" || die_usage "--${_pair%%:*} must be a whole number of seconds, got '$_v'"
done
dec "${deadline:-0}"; deadline=$R
dec "${grace:-10}"; grace=$R
dec "${heartbeat:-0}"; heartbeat=$R
[ -n "${DIAGNOSTIC_OUTPUT_DIR:-}" ] || die_usage "DIAGNOSTIC_OUTPUT_DIR is not set"

# ---------------------------------------------------------------------------------------------- setup
have_date=
have date && have_date=1
unset CDPATH
case $DIAGNOSTIC_OUTPUT_DIR in -*) DIAGNOSTIC_OUTPUT_DIR=./$DIAGNOSTIC_OUTPUT_DIR ;; esac
# one mkdir -p makes the output dir and the state dir (none when both exist)
if [ ! -d "$DIAGNOSTIC_OUTPUT_DIR/.diagnostic-operator" ]; then
    mkdir -p "$DIAGNOSTIC_OUTPUT_DIR/.diagnostic-operator" 2>/dev/null ||
        { [ -d "$DIAGNOSTIC_OUTPUT_DIR" ] || mkdir "$DIAGNOSTIC_OUTPUT_DIR"; } 2>/dev/null
fi
cd "$DIAGNOSTIC_OUTPUT_DIR" 2>/dev/null ||
    { printf '%s cannot create or enter DIAGNOSTIC_OUTPUT_DIR %s\n' "$PFX" "$DIAGNOSTIC_OUTPUT_DIR" >&2; exit 125; }
# absolute (cd sets PWD), so the command sees the same path whatever its own cwd does later
DIAGNOSTIC_OUTPUT_DIR=$PWD
export DIAGNOSTIC_OUTPUT_DIR
state_dir=$DIAGNOSTIC_OUTPUT_DIR/.diagnostic-operator
[ -d "$state_dir" ] || mkdir "$state_dir" 2>/dev/null ||
    { printf '%s cannot create %s\n' "$PFX" "$state_dir" >&2; exit 125; }
record=$state_dir/exit.json
hb_file=$state_dir/heartbeat
tmo_file=$state_dir/timed-out.$$
done_file=$state_dir/done.$$
log_file=$DIAGNOSTIC_OUTPUT_DIR/out.log
if [ -e "$record" ] || [ -e "$tmo_file" ] || [ -e "$done_file" ]; then
    if have rm; then rm -f "$record" "$tmo_file" "$done_file" 2>/dev/null; fi
fi

: >"$log_file" || { printf '%s cannot write %s\n' "$PFX" "$log_file" >&2; exit 125; }
log_ready=1

forwarded=
caught=
child_pid=
child_done=
pgid=
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

find_cgroup
oom_count; oom_start=$R
find_cpu
cpu_ms; cpu_start=$R
clock; started_at=$R_ISO; start_epoch=$R_EPOCH
uptime_cs; start_cs=$R

# ---------------------------------------------------------------------------------------------- log tee
fifo=
tee_pid=
if have mkfifo && have tee; then
    for _f in "$state_dir/log.fifo.$$" "${TMPDIR:-/tmp}/diagnostic-operator-log.$$"; do
        if [ -e "$_f" ] || [ -p "$_f" ]; then rm -f "$_f" 2>/dev/null; fi
        if mkfifo "$_f" 2>/dev/null; then fifo=$_f; break; fi
    done
fi
if [ -n "$fifo" ]; then
    # tee ignores INT/TERM/HUP/PIPE so it always drains what the command wrote (it ends at EOF)
    (trap '' INT TERM HUP PIPE; exec tee -a "$log_file" <"$fifo") &
    tee_pid=$!
    out_target=$fifo
else
    say "mkfifo or tee missing: the command's output goes to out.log only"
    out_target=$log_file
fi

# ---------------------------------------------------------------------------------------------- command
setsid_cmd=
have setsid && setsid_cmd=setsid
exec 3<&0
(
    trap - TERM INT HUP
    case $1 in
        */*) ;;
        *) if ! command -v "$1" >/dev/null 2>&1; then
               printf '%s %s: command not found\n' "$PFX" "$1" >&2
               exit 127
           fi ;;
    esac
    # shellcheck disable=SC2086  # $setsid_cmd is empty or one word
    exec $setsid_cmd "$@"
) <&3 >>"$out_target" 2>&1 3<&- &
child_pid=$!
exec 3<&-
# with setsid (it does not fork: a background job is never a group leader) the command leads a group
[ -n "$setsid_cmd" ] && pgid=$child_pid

# ---------------------------------------------------------------------------------------------- timer
# One background loop: heartbeat every $heartbeat s, deadline after $deadline s (TERM, $grace s, KILL).
# It stops on TERM from the shim, when $done_file appears (a TERM that lands before the subshell has
# set its trap is lost in some shells), and when the shim is gone (a dead shim leaves a stale heartbeat).
timer_pid=
if { [ "$deadline" -gt 0 ] || [ "$heartbeat" -gt 0 ]; } && ! have sleep; then
    say "sleep missing: no deadline and no heartbeat"
    deadline=0
elif [ "$deadline" -gt 0 ] || [ "$heartbeat" -gt 0 ]; then
    shim_pid=$$
    (
        trap '' INT HUP
        sp=
        trap 'if [ -n "$sp" ]; then kill "$sp" 2>/dev/null; fi; exit 0' TERM
        have_mv=
        have mv && have_mv=1
        ticks=0
        next_hb=0
        fired=
        kill_at=
        while [ ! -e "$done_file" ] && kill -0 "$shim_pid" 2>/dev/null; do
            uptime_cs; now_cs=$R
            if [ -n "$now_cs" ] && [ -n "$start_cs" ]; then
                elapsed=$(((now_cs - start_cs) / 100))
            else
                elapsed=$ticks
            fi
            if [ "$heartbeat" -gt 0 ] && [ "$elapsed" -ge "$next_hb" ]; then
                # epoch seconds, from the start time and /proc/uptime (no fork) when both are known
                if [ -n "$start_epoch" ] && [ -n "$now_cs" ]; then
                    _hb=$((start_epoch + (now_cs - start_cs) / 100))
                elif clock; then
                    _hb=$R_EPOCH
                else
                    _hb="uptime ${now_cs:-$ticks}"
                fi
                if [ -n "$have_mv" ] && printf '%s\n' "$_hb" >"$hb_file.tmp" 2>/dev/null; then
                    mv -f "$hb_file.tmp" "$hb_file" 2>/dev/null
                else
                    printf '%s\n' "$_hb" >"$hb_file" 2>/dev/null
                fi
                next_hb=$((elapsed + heartbeat))
            fi
            if [ "$deadline" -gt 0 ] && [ -z "$fired" ] && [ "$elapsed" -ge "$deadline" ]; then
                fired=1
                : >"$tmo_file" 2>/dev/null
                say "deadline of ${deadline}s reached: sending TERM to the command (pid $child_pid)"
                signal_child TERM
                kill_at=$((elapsed + grace))
            fi
            if [ -n "$kill_at" ] && [ "$elapsed" -ge "$kill_at" ]; then
                if kill -0 "$child_pid" 2>/dev/null || { [ -n "$pgid" ] && kill -0 "-$pgid" 2>/dev/null; }; then
                    say "still running ${grace}s after TERM: sending KILL"
                    signal_child KILL
                fi
                kill_at=
            fi
            # in the background, so that TERM from the shim interrupts `wait` and ends this loop at once
            sleep 1 >/dev/null 2>&1 &
            sp=$!
            wait "$sp"
            sp=
            ticks=$((ticks + 1))
        done
    ) </dev/null &
    timer_pid=$!
fi

# ---------------------------------------------------------------------------------------------- wait
# A trapped signal interrupts `wait` (status 128+sig); wait again until the command itself has ended.
# When the signal comes just as the command ends, shells differ: dash returns the real status and
# forgets the job (a second wait says 127, "not a child"); busybox returns 128+sig but keeps the real
# status for a second wait. Only `wait` reaps the command (nothing else in this shell forks meanwhile),
# so "PID gone" means it has been reaped.
while :; do
    caught=
    wait "$child_pid"
    status=$?
    [ -n "$caught" ] || break
    kill -0 "$child_pid" 2>/dev/null && continue
    caught=
    wait "$child_pid"
    _again=$?
    [ "$_again" -eq 127 ] || status=$_again
    break
done
child_done=1

# Stray processes left in the command's group would hold the log pipe open: end them.
if [ -n "$pgid" ] && group_alive "$pgid"; then
    say "the command exited but processes of its group remain: sending TERM"
    kill -TERM "-$pgid" 2>/dev/null
    _n=0
    while group_alive "$pgid" && [ "$_n" -lt "$((grace * 10))" ] && have sleep; do
        sleep 0.1 2>/dev/null || sleep 1
        _n=$((_n + 1))
    done
    kill -KILL "-$pgid" 2>/dev/null
fi
if [ -n "$timer_pid" ]; then
    : >"$done_file" 2>/dev/null
    kill "$timer_pid" 2>/dev/null
    while :; do
        caught=
        wait "$timer_pid"
        [ -n "$caught" ] || break
    done
fi

# the log must be complete before the record says the run is over
if [ -n "$tee_pid" ]; then
    while :; do
        caught=
        wait "$tee_pid"
        [ -n "$caught" ] || break
    done
fi
if have rm; then rm -f "$done_file" ${fifo:+"$fifo"} 2>/dev/null; fi

# ---------------------------------------------------------------------------------------------- record
clock; ended_at=$R_ISO; end_epoch=$R_EPOCH
uptime_cs; end_cs=$R
wall=
if [ -n "$start_cs" ] && [ -n "$end_cs" ]; then
    _w=$((end_cs - start_cs))
    _frac=$((_w % 100))
    [ "$_frac" -lt 10 ] && _frac=0$_frac
    wall=$((_w / 100)).$_frac
elif [ -n "$start_epoch" ] && [ -n "$end_epoch" ]; then
    wall=$((end_epoch - start_epoch))
fi

timed_out=false
if [ -e "$tmo_file" ]; then
    timed_out=true
    if have rm; then rm -f "$tmo_file" 2>/dev/null; fi
fi

# sh reports "killed by signal N" as 128+N, exactly like `exit 128+N`: the two cannot be told apart here
signal=
if [ "$status" -gt 128 ] && [ "$status" -le 192 ]; then signal=$((status - 128)); fi

peak=
limit=
src=
oom=
case $cg_kind in
    cgroup-v2)
        src=cgroup-v2
        read_uint "$cg_dir/memory.peak"; peak=$R
        _m=
        [ -r "$cg_dir/memory.max" ] && read -r _m _rest 2>/dev/null <"$cg_dir/memory.max"
        is_uint "$_m" && limit=$_m ;;
    cgroup-v1)
        src=cgroup-v1
        read_uint "$cg_dir/memory.max_usage_in_bytes"; peak=$R
        read_uint "$cg_dir/memory.limit_in_bytes"
        if [ -n "$R" ] && v1_limited "$R"; then
            limit=$R
        else
            # a limit set on an ancestor applies too
            read_key "$cg_dir/memory.stat" hierarchical_memory_limit
            if [ -n "$R" ] && v1_limited "$R"; then limit=$R; fi
        fi ;;
esac
[ -n "$peak" ] || src=
if [ -n "$oom_start" ] && oom_count; then oom=$((R - oom_start)); fi
cpu=
if [ -n "$cpu_start" ] && cpu_ms && [ "$R" -ge "$cpu_start" ]; then
    _c=$((R - cpu_start))
    _frac=$((_c % 1000))
    case $_frac in ?) _frac=00$_frac ;; ??) _frac=0$_frac ;; esac
    cpu=$((_c / 1000)).$_frac
fi

log_bytes=
if have wc; then
    _wc=$(wc -c 2>/dev/null <"$log_file") || _wc=
    for _x in $_wc; do log_bytes=$_x; break; done
    if is_uint "$log_bytes"; then dec "$log_bytes"; log_bytes=$R; else log_bytes=; fi
fi
deadline_json=
[ "$deadline" -gt 0 ] && deadline_json=$deadline

json="{"
add() { json="$json$2
  \"$1\": $R"; }
jstr "$SCHEMA"; add schema
jnum "$status"; add exitCode ,
jnum "$signal"; add signal ,
jnum "$timed_out"; add timedOut ,
jnum "$deadline_json"; add deadlineSeconds ,
jstr "$forwarded"; add forwardedSignal ,
jstr "$started_at"; add startedAt ,
jstr "$ended_at"; add endedAt ,
jnum "$wall"; add wallSeconds ,
jnum "$peak"; add peakMemoryBytes ,
jstr "$src"; add peakMemorySource ,
jnum "$limit"; add memoryLimitBytes ,
jnum "$oom"; add oomKills ,
jnum "$cpu"; add cpuSeconds ,
jnum "$log_bytes"; add logBytes ,
jstr "$SHIM_VERSION"; add shimVersion ,
json="$json
}"
tmp=$state_dir/exit.json.tmp.$$
if have mv && printf '%s\n' "$json" >"$tmp" 2>/dev/null && mv -f "$tmp" "$record" 2>/dev/null; then
    :
else
    printf '%s\n' "$json" >"$record" 2>/dev/null || say "cannot write the exit record $record"
    if have rm; then rm -f "$tmp" 2>/dev/null; fi
fi
exit "$status"
