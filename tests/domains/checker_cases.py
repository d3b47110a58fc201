"""An adversarial suite for the answer checkers: (checker, reference, completion, verdict), where
the verdict is what a careful human grader would say. Used by `test_checkers_adversarial.py` and
measured by `benchmarks/checkers.py`.

The grader's rules: a completion that commits to two different final answers is wrong, whichever
is right (saying one answer twice is fine); the same value in another common surface form is
right; the checker's own contract stands (`pattern` needs its marker, `exact` compares the last
line and keeps case, `numeric` reads the last number).
"""

H = "#### "
CASES = [
    # -- numeric --------------------------------------------------------------------------
    ("numeric", "42", "The answer is 42.", True),
    ("numeric", "42", "The answer is 43 or 42", False),  # hedge: last number is right
    ("numeric", "45", "41 42 43 44 45", False),  # a spray of numbers
    ("numeric", "45", "It could be 41, 43, or 45", False),
    ("numeric", "17", "answer: 42\nanswer: 17", False),  # two stated answers
    ("numeric", "42", "answer: 42\nso the answer is 42", True),  # the same answer twice
    ("numeric", "7", "3 + 4 = 7", True),  # an equation is not a hedge
    ("numeric", "1200", "Total: $1,200.00", True),
    ("numeric", "0.5", "It is 1/2", True),
    ("numeric", "-5", "The result is \u22125", True),  # Unicode minus
    ("numeric", "1000000", "That is 1e6", True),
    ("numeric", "42", "**42**", True),
    ("numeric", "12", "She has 12 apples", True),
    ("numeric", "42", "", False),
    ("numeric", "42", "forty-two", False),
    ("numeric", "42", "The answer is 42, not 41.\nSo 42.", True),  # committed; a rejected value named
    # -- pattern #### ------------------------------------------------------------------------
    ("####", "42", "6*7=42\n#### 42", True),
    ("####", "42", "#### 17\n#### 42", False),  # two final answers, the last one right
    ("####", "42", "#### 42\n#### 42", True),
    ("####", "42", "#### 42 apples", True),
    ("####", "42", "#### $42.00", True),
    ("####", "42", "#### 42.", True),
    ("####", "42", "#### 41 or 42", False),
    ("####", "42", "#### x = 42", True),
    ("####", "1200", "#### 1,200", True),
    ("####", "42", "no marker here, 42", False),  # the marker is the contract
    ("####", "0.5", "#### 1/2", True),
    ("####", "42", "#### **42**", True),
    ("####", "42", "#### 40 + 2 = 42", True),
    ("####", "42", "#### 41\nwait, recheck\n#### 42", False),
    # -- pattern A: and boxed ------------------------------------------------------------------
    ("A:", "7", "A: 7", True),
    ("A:", "7", "A: 3\nA: 7", False),
    ("boxed", "7", "so \\boxed{7}", True),
    ("boxed", "7", "\\boxed{3} or \\boxed{7}", False),
    ("boxed", "7", "\\boxed{7}, again \\boxed{7}", True),
    ("boxed", "0.5", "\\boxed{\\frac{1}{2}}", True),
    ("boxed", "blue", "\\boxed{blue}", True),
    ("boxed", "blue", "\\boxed{red} \\boxed{blue}", False),
    # -- exact ----------------------------------------------------------------------------------
    ("exact", "Paris", "The capital is\nParis", True),
    ("exact", "Paris", "Paris.", True),
    ("exact", "Paris", "**Paris**", True),
    ("exact", "New York", "New  York", True),
    ("exact", "Paris", "Paris or London", False),
    ("exact", "Paris", "London", False),
    ("exact", "CO", "Co", False),  # case counts (carbon monoxide is not cobalt)
    # -- math -------------------------------------------------------------------------------------
    ("math", "1/2", "\\boxed{\\frac{1}{2}}", True),
    ("math", "1/2", "\\boxed{0.5}", True),
    ("math", "1/2", "\\boxed{1} or maybe \\boxed{\\frac{1}{2}}", False),
    ("math", "2", "\\boxed{1}, \\boxed{2}, \\boxed{3}", False),
    ("math", "x+1", "\\boxed{1+x}", True),
    ("math", "\\frac{\\sqrt{3}}{2}", "\\boxed{\\frac{\\sqrt3}{2}}", True),
    ("math", "1/2", "\\boxed{\\frac{1}{2}} which is \\boxed{\\frac{2}{4}}", True),  # one value, two forms
    ("math", "3", "The answer is $3$.", True),
    ("math", "1/2", "\\boxed{9^{9^{9^{9}}}}", False),  # must answer at once, not hang in sympy
    ("math", "2", "\\boxed{99999!}", False),
]

# verify_answer(pattern "####"): (reference, completion, correct, steps_ok); none may raise.
ANNOTATED = [
    ("4", "2+2=<<2+2=4>>4\n#### 4", True, True),
    ("1", "<<999999**64=1>>1\n#### 1", True, True),  # too big to check: not counted as a wrong step
    ("5", "2+2=<<2+2=5>>5\n#### 5", True, False),  # right answer through a wrong step
    ("1", "<<(999999**64)*(999999**64)=1>>\n#### 1", True, True),
    ("1", "<<10**400=1>>\n#### 1", True, True),
    ("7", "<<" + "9*" * 99 + "9=1>>\n#### 7", True, True),
    ("7", "<<1/0=7>>\n#### 7", True, True),
]
