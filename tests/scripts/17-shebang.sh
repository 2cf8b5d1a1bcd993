printf '#!/bin/sh\necho "script says $1"\nexit 9\n' > run.sh
chmod +x run.sh
./run.sh hi
echo "script status $?"
