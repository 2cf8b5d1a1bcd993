gzip -c words.txt > w.gz
gunzip -c w.gz | cmp - words.txt && echo "round trip ok"
