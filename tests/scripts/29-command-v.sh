command -v echo >/dev/null && echo "echo found"
type cd | head -c 2; echo
