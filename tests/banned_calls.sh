#!/bin/sh
# banned_calls.sh: core/ and sim/ must not read clocks, draw from libc randomness, read the
# environment or start threads: any of these would make a run differ from its replay. The one
# exception is sim/sim_wall.c, which measures wall time for progress lines and benchmark figures
# and feeds nothing back into a run. core/ additionally may not print or touch sockets.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0

# Print FILE:LINE:code with comments, string and character literals blanked, line numbers kept,
# so a call in a comment or a string is not a hit and no code line is skipped as a comment.
strip() {
    for f in "$@"; do
        awk -v file="$f" '
        BEGIN { in_comment = 0 }
        {
            line = $0; out = ""; i = 1; n = length(line)
            while (i <= n) {
                c = substr(line, i, 1); two = substr(line, i, 2)
                if (in_comment) {
                    if (two == "*/") { in_comment = 0; i += 2 } else i++
                    continue
                }
                if (two == "/*") { in_comment = 1; out = out " "; i += 2; continue }
                if (two == "//") break
                if (c == "\"" || c == "\047") {
                    q = c; out = out q q; i++
                    while (i <= n) {
                        d = substr(line, i, 1)
                        if (d == "\\") { i += 2; continue }
                        i++
                        if (d == q) break
                    }
                    continue
                }
                out = out c; i++
            }
            print file ":" NR ":" out
        }' "$f"
    done
}

scan() {  # scan PATTERN WHY CODE (strip's output)
    hits=$(printf '%s\n' "$3" | grep -E "$1")
    why=$2
    if [ -n "$hits" ]; then
        printf '%s\n' "$hits" | sed "s|\$| <- $why|"
        status=1
    fi
}

sim_files=$(ls "$root"/sim/*.c "$root"/sim/*.h | grep -v '/sim_wall\.[ch]$')
core_files=$(ls "$root"/core/*.c "$root"/core/*.h)

clock='\b(time|clock|gettimeofday|clock_gettime|timespec_get|ftime)[[:space:]]*\('
random='\b(rand|srand|random|srandom|drand48|lrand48|getrandom|arc4random|gsl_rng_env_setup)[[:space:]]*\('
environ='\b(getenv|secure_getenv|setenv)[[:space:]]*\(|\benviron\b'
threads='\bpthread_[a-z_]+[[:space:]]*\(|\bthrd_create\b|<pthread\.h>|<threads\.h>'
io='\b(printf|fprintf|puts|fopen|socket|sendto|recvfrom)[[:space:]]*\(|<sys/socket\.h>|<stdio\.h>'

# shellcheck disable=SC2086
core_code=$(strip $core_files)
# shellcheck disable=SC2086
all_code=$(printf '%s\n' "$core_code"; strip $sim_files)
scan "$clock" "wall clock: take time as an argument (core) or use virtual time (sim)" "$all_code"
scan "$random" "randomness: use dyn_prng_t or a stream derived from the run seed" "$all_code"
scan "$environ" "environment: pass configuration explicitly" "$all_code"
scan "$threads" "threads: the simulator is single-threaded by design" "$all_code"
scan "$io" "I/O in core: go through dyn_env_t (send, trace)" "$core_code"
if [ "$status" -eq 0 ]; then
    echo "banned calls: none in core/ and sim/ (sim_wall.c excepted)"
fi
exit "$status"
