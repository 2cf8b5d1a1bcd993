cut -d: -f1 passwd.txt | tee names.txt | tr a-z A-Z
wc -l < names.txt
