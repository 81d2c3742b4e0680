module msglabs

go 1.26
