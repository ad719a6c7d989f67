"""Multiple systems estimation (capture-recapture with K ≥ 2 lists).

Log-linear models, model choice, existence checks and intervals follow the conventions of
shared/reference/mse/README.md (SparseMSE, MultipleSystemsEstimation, Rcapture, modslavmse).
"""
