x=outer
(x=inner; echo "in subshell: $x"; exit 4)
echo "status $? and x=$x"
