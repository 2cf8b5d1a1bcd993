# Nice values: a process starts with its parent's; renice changes a running
# process's (busybox renice -n adds to it), which its /proc stat shows
# (priority 20 + nice, then nice), and children inherit it. (Another
# process's stat is read: qemu-user makes up /proc/self/stat. The sleepers
# end by themselves: a killed job's notice would depend on timing.)
nice_of() { cut -d' ' -f18,19 /proc/$1/stat; }
sleep 1 &
pid=$!
echo "start: $(nice_of $pid)"
renice -n 7 -p $pid >/dev/null
echo "renice status $?"
echo "after renice: $(nice_of $pid)"
wait $pid
echo "status $?"
renice -n 4 -p $$ >/dev/null
sleep 1 &
echo "inherited: $(nice_of $!)"
wait $!
renice -n 99 -p $$ >/dev/null
sleep 1 &
echo "clamped: $(nice_of $!)"
wait $!
renice -n 3 -p 99999 2>/dev/null
echo "missing process: status $?"
