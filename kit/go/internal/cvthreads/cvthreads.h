#ifdef __cplusplus
extern "C" {
#endif
void kit_cv_set_num_threads(int n);
int kit_cv_get_num_threads(void);
#ifdef __cplusplus
}
#endif
