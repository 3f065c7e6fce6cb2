/* usernsmnt: userns with a mount namespace the user namespace owns,
 * holding a tmpfs (see userns.c). */
#define USERNS_MNTNS 1
#include "userns.c"
