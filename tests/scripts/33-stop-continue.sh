# Job control signals between processes: SIGSTOP stops a background job
# (state T in /proc), SIGCONT resumes it (S again), SIGTERM then ends it and
# wait reports 128+15.
sleep 30 &
pid=$!
kill -STOP $pid
sleep 0.3
echo "after STOP: $(cut -d' ' -f3 /proc/$pid/stat)"
kill -CONT $pid
sleep 0.3
echo "after CONT: $(cut -d' ' -f3 /proc/$pid/stat)"
kill -TERM $pid
wait $pid
echo "status $?"
