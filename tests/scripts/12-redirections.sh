echo one > f.txt
echo two >> f.txt
wc -l < f.txt
ls no-such-file 2> err.txt; echo "ls status $?"
wc -l < err.txt
cat f.txt nothing 2>&1 | sort
