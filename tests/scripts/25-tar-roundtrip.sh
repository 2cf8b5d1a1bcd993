tar cf t.tar words.txt pairs.txt
mkdir out && cd out && tar xf ../t.tar && ls && cmp words.txt ../words.txt && echo same
