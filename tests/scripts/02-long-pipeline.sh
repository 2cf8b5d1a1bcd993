cat words.txt numbers.txt dups.txt | grep -v 1 | sort | uniq | wc -l
