mkdir -p a/b/c && touch a/b/c/file && ls -R a | sort
cp -r a copy && find copy | sort
rm -r a copy && ls a 2>&1 | sed 's/.*: //'
