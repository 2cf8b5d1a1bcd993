awk -F: '{ print $1 " has uid " $3 }' passwd.txt | sed 's/root/ROOT/'
seq 1 10 | awk '{ s += $1 } END { print "sum", s }'
