cat <<END | sort -r
gamma
alpha
beta
END
cat <<'RAW'
$HOME is not expanded here
RAW
