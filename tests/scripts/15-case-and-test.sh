for w in apple 42 -x; do
  case $w in
    [0-9]*) echo "$w is a number" ;;
    -*) echo "$w is an option" ;;
    *) echo "$w is a word" ;;
  esac
done
[ -f words.txt ] && echo "words.txt exists"
[ -d tree ] && echo "tree is a directory"
[ -e nothing ] || echo "nothing is missing"
