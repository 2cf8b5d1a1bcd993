echo before
exit 17
echo never
