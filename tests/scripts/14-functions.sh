greet() { echo "hello $1"; return 7; }
greet world
echo "returned $?"
count() { wc -l | tr -d ' '; }
seq 10 | count
