false | true; echo "last of pipe: $?"
true | false; echo "last of pipe: $?"
seq 3 | while read n; do echo "line $n"; done
