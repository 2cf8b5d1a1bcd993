sort dups.txt | uniq -c | sort -rn
sort -n numbers.txt | tail -n 1
