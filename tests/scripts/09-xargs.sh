printf 'words.txt\nnumbers.txt\n' | xargs wc -l
echo a b c | xargs -n 1 echo item
