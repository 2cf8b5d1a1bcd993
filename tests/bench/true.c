/* true.c: the small static program fork_exec_wait runs (exec.c): it does
 * nothing and exits with 0, like true(1). */
int main(void)
{
    return 0;
}
