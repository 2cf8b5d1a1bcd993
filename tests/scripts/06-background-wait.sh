(sleep 0.1; echo background done) &
wait $!
echo "waited: $?"
(exit 3) &
wait $!
echo "second: $?"
