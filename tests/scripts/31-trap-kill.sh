trap 'echo caught USR1' USR1
kill -USR1 $$
echo after the signal
sh -c 'kill -TERM $$; echo not reached'
echo "killed child: $?"
trap 'echo exiting' EXIT
