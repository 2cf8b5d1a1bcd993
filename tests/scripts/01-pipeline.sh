cat words.txt | sort | head -n 3 | tr a-z A-Z
