exec 3> out.txt
echo "to fd 3" >&3
echo "more" >&3
exec 3>&-
cat out.txt
exec < words.txt
read first
echo "read: $first"
