false; echo "false gives $?"
true; echo "true gives $?"
sh -c 'exit 42'; echo "sh -c exit 42 gives $?"
no-such-command 2>/dev/null; echo "missing command gives $?"
