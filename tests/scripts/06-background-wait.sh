# pending: busybox sh's wait blocks in rt_sigsuspend until its SIGCHLD handler runs; signal delivery is issue 6
(sleep 0.1; echo background done) &
wait $!
echo "waited: $?"
(exit 3) &
wait $!
echo "second: $?"
