i=0
while [ $i -lt 5 ]; do i=$((i + 1)); printf '%s ' $i; done
echo
for f in words.txt pairs.txt; do echo "$f: $(wc -c < $f)"; done
