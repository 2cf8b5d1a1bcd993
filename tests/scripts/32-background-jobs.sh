sleep 0.2 &
first=$!
(echo second job; exit 4) &
second=$!
wait $second
echo "second: $?"
wait $first
echo "first: $?"
