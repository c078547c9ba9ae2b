import json, numpy as np, sys
F = ['dense','lexical','lead','sentence','sentence_plain','lexical_best','cover']
def load(n):
    d = json.load(open(f'/work/main/benchmarks/out/signals-{n}.json'))
    X = np.array([[s[k] for k in F] for s in d]); y = np.array([s['on_topic'] for s in d], float)
    return X, y, d
for n in ['mlqa-zh','mlqa-en','mlqa-mixed']:
    X, y, d = load(n)
    for i, f in enumerate(F):
        print(n, f, 'on', np.percentile(X[y==1,i],[5,25,50]).round(3), 'off', np.percentile(X[y==0,i],[50,75,90,95]).round(3))
# logistic regression fit on mixed
def fit(X, y, l2=1e-3, it=3000):
    Xb = np.hstack([np.ones((len(X),1)), X]); w = np.zeros(Xb.shape[1])
    for _ in range(it):
        p = 1/(1+np.exp(-Xb@w)); g = Xb.T@(p-y)/len(y) + l2*w; H = (Xb.T*(p*(1-p)))@Xb/len(y) + l2*np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return w
Xs, ys = zip(*[load(n)[:2] for n in ['mlqa-zh','mlqa-en','mlqa-mixed']])
X = np.vstack(Xs); y = np.concatenate(ys)
w = fit(X, y); print('w', w.round(3))
for n in ['mlqa-zh','mlqa-en','mlqa-mixed'] + sys.argv[1:]:
    Xn, yn, _ = load(n)
    p = 1/(1+np.exp(-(w[0] + Xn@w[1:])))
    for th in [0.3, 0.5, 0.7, 0.8, 0.9]:
        print(n, th, 'in flagged', np.mean(p[yn==1] < th).round(3), 'off flagged', np.mean(p[yn==0] < th).round(3))
print("=== fit: P(top hit right)")
def load2(n):
    X, y, d = load(n); r = np.array([s['right'] for s in d], float); return X, y, r
Xs, ys, rs = zip(*[load2(n) for n in ['mlqa-zh','mlqa-en','mlqa-mixed']])
X = np.vstack(Xs); r = np.concatenate(rs)
w = fit(X, r); print('w', dict(zip(['bias']+F, w.round(3))))
for n in ['mlqa-zh','mlqa-en','mlqa-mixed'] + sys.argv[1:]:
    Xn, yn, rn = load2(n)
    p = 1/(1+np.exp(-(w[0] + Xn@w[1:])))
    for th in [0.2, 0.3, 0.4, 0.5]:
        print(n, th, 'in flagged', np.mean(p[yn==1] < th).round(3), 'in&right flagged', np.mean(p[(yn==1)&(rn==1)] < th).round(3), 'in&wrong flagged', np.mean(p[(yn==1)&(rn==0)] < th).round(3), 'off flagged', np.mean(p[yn==0] < th).round(3))
