/* Compiled as C99, C11 and C++17 with -Wall -Wextra -pedantic -Werror by check-header.sh:
 * include/shmview.h must be clean in each, its item union included. */
#include "shmview.h"

int main(void)
{
        shmv_item item;
        item.format = 'q';
        item.i = -1;
        shmv_limits limits;
        limits.max_frame = 0;
        /* The output parameter is a void **, which C and C++ take alike. */
        shmv_view *view = NULL;
        void *data = NULL;
        if (shmv_view_data_mut(view, &data) == 0 && data)
                return 2;
        return item.i == -1 && limits.max_frame == 0 && SHMV_READ != SHMV_WRITE ? 0 : 1;
}
