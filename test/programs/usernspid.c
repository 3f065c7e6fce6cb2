/* usernspid: userns in a pid namespace the user namespace owns (see
 * userns.c). */
#define USERNS_PIDNS 1
#include "userns.c"
