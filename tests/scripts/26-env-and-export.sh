export GREETING=hello
sh -c 'echo "child sees $GREETING"'
unset GREETING
sh -c 'echo "child sees ${GREETING:-nothing}"'
