n=$(wc -l < words.txt)
echo "words: $n"
echo "first: $(head -n 1 words.txt), last: $(tail -n 1 words.txt)"
