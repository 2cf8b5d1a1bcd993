# Job control signals between processes: SIGSTOP stops a background job
# (state T in /proc), SIGCONT resumes it (S again, sleeping on), and the job
# then ends by itself with status 0.
sleep 2 &
pid=$!
kill -STOP $pid
sleep 0.3
echo "after STOP: $(cut -d' ' -f3 /proc/$pid/stat)"
kill -CONT $pid
sleep 0.3
echo "after CONT: $(cut -d' ' -f3 /proc/$pid/stat)"
wait $pid
echo "status $?"
