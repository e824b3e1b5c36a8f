#!/bin/sh
# banned_calls_selftest.sh: the banned-call check must pass on a clean tree and catch a planted
# call, so a broken pattern cannot make it pass forever.
set -u
check=$(dirname "$0")/banned_calls.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core" "$tmp/sim"
printf 'int ok(int x) { return x + 1; } /* time() in a comment is fine */\n' > "$tmp/core/a.c"
printf 'const char *s = "getenv(HOME) in a string is fine";\n' > "$tmp/sim/b.c"
printf '/*\n * time(NULL) in a block comment is fine\n */\nchar q = \047"\047; // rand() too\n' >> "$tmp/sim/b.c"
touch "$tmp/core/a.h" "$tmp/sim/b.h"
sh "$check" "$tmp" >/dev/null || { echo "FAIL: clean tree rejected"; exit 1; }
for call in 'time(NULL)' 'rand()' 'getenv("X")' 'clock_gettime(0, 0)' 'pthread_create(0,0,0,0)'; do
    printf 'void f(void) { %s; }\n' "$call" > "$tmp/sim/c.c"
    if sh "$check" "$tmp" >/dev/null; then
        echo "FAIL: planted $call not caught"
        exit 1
    fi
done
# Code that merely looks like a comment line, or follows a comment or a quote on its line.
for line in '    *t = time(0);' '/* a */ x = rand();' 'char c = \047"\047; long t = time(0);' \
            'const char *s = "a\\"b"; int r = rand();'; do
    printf 'void f(long *t) {\n%b\n}\n' "$line" > "$tmp/sim/c.c"
    if sh "$check" "$tmp" >/dev/null; then
        echo "FAIL: planted call in '$line' not caught"
        exit 1
    fi
done
rm "$tmp/sim/c.c"
printf 'void g(void) { printf("x"); }\n' > "$tmp/core/d.c"
if sh "$check" "$tmp" >/dev/null; then
    echo "FAIL: printf in core not caught"
    exit 1
fi
echo "banned-call check catches every planted call"
