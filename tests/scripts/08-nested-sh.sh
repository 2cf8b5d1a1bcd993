sh -c 'echo one; sh -c "echo two; sh -c \"echo three; exit 5\"; echo inner \$?"; echo middle $?'
echo outer $?
