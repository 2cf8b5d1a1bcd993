while IFS=: read name pw uid rest; do
  echo "$uid $name"
done < passwd.txt | sort -n
